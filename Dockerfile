# The image of the course's Python services: the workflows API, its Celery
# worker and Flower. docker-compose.yml builds it once and runs it three ways;
# see the comment at the top of that file.
#
# By hand: `docker build -t celery-seed-to-sprout .` in the repository's root.
FROM python:3.11-slim

# Print logs as they come (no buffering), write no .pyc files at run time,
# and keep pip quiet about its own version.
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The exact versions that `make` installs, before the code: this layer is
# rebuilt only when requirements.txt changes.
COPY requirements.txt /app/requirements.txt
RUN pip install --no-cache-dir -r /app/requirements.txt

# The course: the API in api/ and the days beside it. .dockerignore leaves out
# the virtual environment, the caches, .git, .env and the SQLite database.
COPY . /app
# Byte-compile the code once, as root, so that every process starts quicker.
RUN python -m compileall -q /app

# The services run as a user without privileges; the code stays owned by root,
# read-only to them.
RUN groupadd --system sprout \
    && useradd --system --gid sprout --create-home --home-dir /home/sprout sprout
USER sprout

WORKDIR /app/api
EXPOSE 8000

# Serve the API with gunicorn, a production WSGI server. docker-compose.yml
# runs the database migrations first, and uses this image for the worker and
# Flower with a command of their own.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000"]
