"""Every day is a complete lesson: its README, its notebook, its test, its own settings."""

import ast
import itertools
import json
import os
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from sprout import REPO

DAYS = sorted(path.name for path in REPO.glob("day[0-9]*") if path.is_dir())


def test_the_days_are_numbered_from_zero_without_gaps():
    assert DAYS == [f"day{number}" for number in range(len(DAYS))]
    assert len(DAYS) >= 4


@pytest.mark.parametrize("day", DAYS)
def test_each_day_has_a_readme_a_notebook_and_a_test(day):
    readme = REPO / day / "README.md"
    assert readme.is_file(), f"{day} has no README.md"
    assert "celery -A taskrunner worker -l INFO" in readme.read_text()
    notebooks = list((REPO / "notebooks").glob(f"{day}_*.ipynb"))
    assert len(notebooks) == 1, f"{day} needs exactly one notebooks/{day}_<topic>.ipynb"
    assert (REPO / "tests" / f"test_{day}.py").is_file(), f"{day} has no tests/test_{day}.py"


@pytest.mark.parametrize("day", DAYS)
def test_each_day_is_described_in_the_course_readme(day):
    assert f"`{day}/`" in (REPO / "README.md").read_text()


@pytest.mark.parametrize("day", DAYS)
def test_lessons_need_no_sys_path_tricks(day):
    for module in (REPO / day).rglob("*.py"):
        assert not re.search(r"\bsys\.path\b", module.read_text()), module


@pytest.mark.parametrize(
    "notebook", sorted((REPO / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem
)
def test_notebooks_need_no_sys_path_tricks(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    code = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    assert not any(re.search(r"\bsys\.path\b", source) for source in code)
    if notebook.stem.startswith("day"):
        # One setup cell: the day's worker, the day's folder, the day's queue.
        day = notebook.stem.partition("_")[0]
        setup = code[0]
        assert f'worker = DayWorker("{day}")' in setup
        assert "os.chdir(worker.folder)" in setup
        assert "app.conf.task_default_queue = worker.queue" in setup


@pytest.mark.parametrize("day", DAYS)
def test_the_environment_overrides_the_urls_and_importing_runs_nothing(day):
    # The broker named here does not exist: a module that sent a task on import
    # would fail or hang here; modules that run nothing import at once.
    env = {
        **os.environ,
        "CELERY_BROKER_URL": "amqp://reader:secret@broker.invalid:5672/course",
        "CELERY_RESULT_BACKEND": "redis://results.invalid:6379/3",
    }
    modules = sorted(path.stem for path in (REPO / day).glob("*.py"))
    code = (
        "".join(f"import {module}\n" for module in modules)
        + "import taskrunner\n"
        + "print(taskrunner.app.conf.broker_url)\n"
        + "print(taskrunner.app.conf.result_backend)"
    )
    printed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO / day,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert printed == [env["CELERY_BROKER_URL"], env["CELERY_RESULT_BACKEND"]]


def test_the_api_has_its_readme_and_its_tests():
    assert (REPO / "api" / "README.md").is_file()
    assert (REPO / "tests" / "test_api.py").is_file()
    assert (REPO / "tests" / "test_api_errors.py").is_file()
    assert "`api/`" in (REPO / "README.md").read_text()


# The course goes on after day 7 in the capstone, in chapters shaped like a day.
CHAPTERS = range(8, 12)


def test_the_chapters_follow_the_days_without_gaps_and_have_nothing_else_beside_them():
    assert len(DAYS) == CHAPTERS.start
    chapters = sorted(path.name for path in (REPO / "api" / "chapters").iterdir())
    assert [name[:2] for name in chapters] == [f"{number:02}" for number in CHAPTERS]
    notebooks = sorted(path.name for path in (REPO / "notebooks").glob("*.ipynb"))
    named = {f"{day}_" for day in DAYS} | {f"chapter{number:02}_" for number in CHAPTERS}
    assert [name for name in notebooks if not name.startswith(tuple(named))] == []


@pytest.mark.parametrize("number", CHAPTERS)
def test_each_chapter_is_shaped_like_a_day_and_has_its_notebook(number):
    (chapter,) = (REPO / "api" / "chapters").glob(f"{number:02}_*.md")
    text = chapter.read_text()
    assert text.startswith(f"# Chapter {number}: ")
    for heading in ("## Run it", "## What to look at", "## Further reading"):
        assert f"\n{heading}\n" in text, (chapter.name, heading)
    notebook = REPO / "notebooks" / f"chapter{chapter.stem}.ipynb"
    assert notebook.is_file(), f"chapter {number} needs {notebook.relative_to(REPO)}"
    assert f"(../../notebooks/{notebook.name})" in text
    assert f"](chapters/{chapter.name})" in (REPO / "api" / "README.md").read_text()
    assert f"](api/chapters/{chapter.name})" in (REPO / "README.md").read_text()
    first = json.loads(notebook.read_text())["cells"][0]["source"][0]
    assert first.startswith(f"# Chapter {number}: ")


@pytest.mark.parametrize("day", DAYS)
def test_lessons_know_nothing_of_the_embedded_stack(day):
    # CELERY_CONFIG_MODULE=sprout.embedded switches every day over without a
    # line of its own: a copied day needs nothing of the course.
    for path in (REPO / day).rglob("*.py"):
        text = path.read_text()
        for word in (
            "import sprout",
            "from sprout",
            "sprout.",
            "CELERY_CONFIG_MODULE",
            "filesystem",
        ):
            assert word not in text, (path, word)


def test_the_api_knows_nothing_of_the_course():
    # api/ is what a reader copies into production: the course reaches it from
    # outside (settings modules, the environment), never the other way round.
    for path in (REPO / "api").rglob("*"):
        if not path.is_file() or path.suffix in {".pyc", ".sqlite3", ".png", ".gz", ".br"}:
            continue
        if {"__pycache__", "staticfiles"} & set(path.parts):
            continue
        text = path.read_text()
        for word in ("sprout", "CELERY_CONFIG_MODULE", "tests.support"):
            assert word not in text, (path, word)
        # Its text may link to its own tests (api/tests/), never to the course's.
        for target in re.findall(r"\]\(([^)#]+)", text) if path.suffix == ".md" else ():
            linked = (path.parent / target).resolve()
            assert not linked.is_relative_to(REPO / "tests"), (path, target)
            assert not linked.is_relative_to(REPO / "sprout"), (path, target)


# What starts a stack of a test's own, as a test module's code names it: the
# course's private servers and faults, the API under gunicorn (alone, as make
# serve serves it, or as deployed), the make targets that start whole stacks, Chromium,
# schemathesis, the benchmarks. Such a module is in make check's tier (marked
# `starts`); any other, in make test's.
STARTS_A_STACK = re.compile(
    r"tests\.support\.(private_stack|private_services|faults)\b"
    r"|api_stack\.(served|deployed)\b|\bApiServer\(|sprout\.serve\b|sprout\.browser\b"
    r'|"make", "--no-print-directory", "(demo|lab|serve)"'
    r'|"collectstatic"|"--deploy"|\bSCHEMATHESIS\b|REPO / "benchmarks"'
    # The compose stack, in containers: its stand-in images, then the stack itself.
    r"|\bcompose_stack\.running_stack\("
    # Chapter 11's commands: api/'s own tests, run from api/, with a worker of their own.
    r'|"api/chapters/11_testing_your_tasks\.md"'
)
# This module names all of them, and starts nothing.
TEST_MODULES = sorted(
    path.name for path in (REPO / "tests").glob("test_*.py") if path.name != Path(__file__).name
)


def marked_starts(text):
    """Whether a test module's ``pytestmark`` holds ``pytest.mark.starts(...)``."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "pytestmark" for target in node.targets
        ):
            return any(
                isinstance(call, ast.Call)
                and isinstance(call.func, ast.Attribute)
                and call.func.attr == "starts"
                for call in ast.walk(node.value)
            )
    return False


@pytest.mark.parametrize("module", TEST_MODULES)
def test_each_test_module_is_in_the_tier_of_what_it_starts(module):
    text = (REPO / "tests" / module).read_text()
    starts = STARTS_A_STACK.search(text)
    marked = marked_starts(text)
    if starts:
        assert marked, (
            f"{module} starts {starts[0]!r}: mark it pytest.mark.starts(...) (make check)"
        )
    else:
        assert not marked, f"{module} starts no stack of its own: make test's tier, unmarked"


# Consecutive days, and the files they share: `diff -r dayN dayN+1` is the lesson.
PAIRS = list(itertools.pairwise(DAYS))


def day_files(day):
    """Every file of a day's folder, as paths relative to it."""
    folder = REPO / day
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )


def without_the_day(text):
    """``text`` with every day's number and folder made the same: day3/ and day4/ read alike."""
    return re.sub(r"\b([Dd]ay) ?\d+", r"\1N", text)


@pytest.mark.parametrize(("before", "after"), PAIRS)
def test_no_line_of_a_day_differs_from_the_day_before_only_by_its_number(before, after):
    for name in sorted(set(day_files(before)) & set(day_files(after))):
        old = (REPO / before / name).read_text().splitlines()
        new = (REPO / after / name).read_text().splitlines()
        removed, added = set(old) - set(new), set(new) - set(old)
        renamed = {without_the_day(line) for line in removed} & {
            without_the_day(line) for line in added
        }
        assert not renamed, (f"{after}/{name}", sorted(renamed))


@pytest.mark.parametrize(("before", "after"), PAIRS)
def test_no_file_of_a_day_differs_from_the_day_before_only_by_its_number(before, after):
    for name in sorted(set(day_files(before)) & set(day_files(after))):
        old = (REPO / before / name).read_text()
        new = (REPO / after / name).read_text()
        assert old == new or without_the_day(old) != without_the_day(new), f"{after}/{name}"


@pytest.mark.parametrize("day", DAYS)
def test_modules_name_no_day_and_import_the_app_by_its_absolute_name(day):
    # A copy of a day, in any folder, reads true; a moved file keeps its imports.
    for path in (REPO / day).rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"\b[Dd]ay ?\d", text), path
        assert not re.search(r"^\s*from \.", text, flags=re.MULTILINE), path


@pytest.mark.parametrize("day", [day for day in DAYS if (REPO / day / "taskrunner").is_dir()])
def test_the_app_module_is_as_short_as_celerys_own(day):
    # Celery's examples/next-steps/proj/celery.py is 14 lines.
    lines = (REPO / day / "taskrunner" / "celery.py").read_text().splitlines()
    assert len(lines) <= 30, f"{day}/taskrunner/celery.py has {len(lines)} lines"


@pytest.mark.parametrize("day", DAYS)
def test_the_readme_names_every_file_of_its_day(day):
    readme = (REPO / day / "README.md").read_text()
    unnamed = [
        name
        for name in day_files(day)
        if name != "README.md" and name not in readme and name.rpartition("/")[2] not in readme
    ]
    assert not unnamed, f"{day}/README.md does not name {unnamed}"


# The API's image installs api/requirements.txt and nothing else (api/Dockerfile).
API_REQUIREMENTS = REPO / "api" / "requirements.txt"
# What the API needs beside what it imports: the programs its image runs, the
# result store's client, and the driver that Django loads for PostgreSQL.
API_RUNS = {
    "gunicorn": "the image's command",
    "flower": "the compose stack's flower service",
    "celery[redis]": "Redis, the result store",
    "psycopg[binary]": "PostgreSQL, the stack's database; binary: the slim image has no libpq",
}


def pinned(path):
    """A requirements file's exact pins, by canonical name; its other lines, as they are."""
    pins, others = {}, []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-"):
            others.append(line)
            continue
        requirement = Requirement(line)
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", line
        assert canonicalize_name(requirement.name) not in pins, f"{line} is pinned twice"
        pins[canonicalize_name(requirement.name)] = specifier.version
    return pins, others


def the_apis_own_modules():
    """The modules and packages at the top of api/: its settings and its apps."""
    api = REPO / "api"
    return {path.stem for path in api.glob("*.py")} | {
        path.parent.name for path in api.glob("*/__init__.py")
    }


def modules_the_api_imports():
    api = REPO / "api"
    local = the_apis_own_modules()
    modules = set()
    # Its tests' own imports are pinned in api/requirements-test.txt.
    for path in set(api.rglob("*.py")) - set(api.glob("tests/**/*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.partition(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.partition(".")[0])
    return modules - local - set(sys.stdlib_module_names)


def modules_the_api_names_in_its_settings():
    from django.conf import settings

    backends = [storage["BACKEND"] for storage in settings.STORAGES.values()]
    named = [*settings.INSTALLED_APPS, *settings.MIDDLEWARE, *backends]
    return {name.partition(".")[0] for name in named}


def test_the_apis_requirements_pin_what_it_needs_and_nothing_else():
    pins, others = pinned(API_REQUIREMENTS)
    # The image has api/ alone: no file outside it can be included.
    assert others == [], "api/requirements.txt may hold exact pins only"
    distributions = metadata.packages_distributions()
    needed = [
        Requirement(distributions[module][0])
        for module in modules_the_api_imports() | modules_the_api_names_in_its_settings()
        if module not in the_apis_own_modules()
    ] + [Requirement(line) for line in API_RUNS]
    # Everything they pull in, extras included, on this Python: the image
    # installs with these pins alone.
    closure, seen, todo = set(), set(), needed
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if (name, frozenset(requirement.extras)) in seen:
            continue
        seen.add((name, frozenset(requirement.extras)))
        closure.add(name)
        extras = [{"extra": extra} for extra in {"", *requirement.extras}]
        for line in metadata.requires(name) or ():
            dependency = Requirement(line)
            if dependency.marker is None or any(map(dependency.marker.evaluate, extras)):
                todo.append(dependency)
    assert closure - set(pins) == set(), "needed by the API, not pinned in api/requirements.txt"
    assert set(pins) - closure == set(), "pinned in api/requirements.txt, needed by nothing"
    # The pins are what this environment runs (make venv installs them).
    for name, version in pins.items():
        assert metadata.version(name) == version, name


def test_the_courses_requirements_include_the_apis_and_pin_each_library_once():
    api, _ = pinned(API_REQUIREMENTS)
    course, course_includes = pinned(REPO / "requirements.txt")
    assert "-r api/requirements.txt" in course_includes
    # api/'s own tests: what they need beside the API, which the course's tests need too.
    api_test, api_test_includes = pinned(REPO / "api" / "requirements-test.txt")
    assert api_test_includes == ["-r requirements.txt"]
    test, test_includes = pinned(REPO / "requirements-test.txt")
    assert test_includes == ["-r requirements.txt", "-r api/requirements-test.txt"]
    assert not set(api) & set(course), "pinned in requirements.txt and api/requirements.txt"
    assert not (set(api) | set(course)) & set(api_test), (
        "pinned twice, once in api/requirements-test.txt"
    )
    assert not (set(api) | set(course) | set(api_test)) & set(test), (
        "pinned twice, once in requirements-test.txt"
    )
