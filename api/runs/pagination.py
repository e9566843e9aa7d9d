"""Pages of a list, by number: ``?page=2``.

DRF's ``PageNumberPagination`` reads the last ``page`` of the query string,
takes an empty one for the first page, also takes ``?page=last``, and answers
404 "Invalid page." for a page that is not a number. The schema says that
``page`` is a positive integer, as a client generated from it sends: this
class holds the API to that, and says what is wrong with any other.
"""

from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination

# More digits than any page number needs, and fewer than int() reads (4,300).
MOST_DIGITS = 100


class PageNumbers(PageNumberPagination):
    """``?page=N``, N a positive integer given once; no page N answers 404."""

    page_query_description = "A page number, from 1; a page past the last answers 404"
    # Only numbers: the schema can then say that a page is an integer.
    last_page_strings = ()
    # Django's paginator gives the reason: "That page contains no results".
    invalid_page_message = "no page {page_number}: {message}"

    def get_page_number(self, request, paginator):
        given = request.query_params.getlist(self.page_query_param)
        if not given:
            return 1
        if len(given) > 1:
            # Which one would a client mean? DRF would take the last, silently.
            raise self.invalid(f"given {len(given)} times: give one page number")
        page = given[0]
        digits = page.lstrip("0")
        # ASCII digits only: int() also reads "+1", " 1" and "1_0".
        if not (page.isascii() and page.isdigit()) or not digits:
            raise self.invalid(f"a page is a whole number from 1, not {page!r}")
        if len(digits) > MOST_DIGITS:
            # Past the last page of any list, and perhaps too long for int().
            raise NotFound(f"no page {digits[:20]}…: That page contains no results")
        return int(digits)

    def invalid(self, reason):
        return ValidationError({self.page_query_param: [reason]})

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters
