"""Task modules: every module in this package and its sub-packages is found by the app."""
