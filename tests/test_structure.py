"""Every day is a complete lesson: its README, its notebook, its test, its own settings."""

import os
import re
import subprocess
import sys

import pytest

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


def test_the_api_has_its_readme_its_notebook_and_its_tests():
    assert (REPO / "api" / "README.md").is_file()
    assert len(list((REPO / "notebooks").glob("api_*.ipynb"))) == 1
    assert (REPO / "tests" / "test_api.py").is_file()
    assert (REPO / "tests" / "test_api_errors.py").is_file()
    assert "`api/`" in (REPO / "README.md").read_text()


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
