"""python manage.py <command>, for the workflows app."""
