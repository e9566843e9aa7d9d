"""Where the course's folders are: the top of the course, and the API's Django project."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
API = REPO / "api"
