"""gunicorn's settings for the API; gunicorn reads this file when it starts in api/.

The old tutorial's GET sends its task ids in the query string: a hundred of
them (the most one request may ask for) take about 4,700 characters, more
than gunicorn's default request line of 4,094. 8,190 is the most it allows.
"""

limit_request_line = 8190
