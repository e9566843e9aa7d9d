"""Run tasks by their names, from code that does not import them.

A client needs the broker, the result store and the names of the tasks,
nothing else: this one could live in another repository, or be another
service altogether.
"""

from celery import Celery

# A bare app of its own, which knows no task at all. As for the worker,
# CELERY_BROKER_URL and CELERY_RESULT_BACKEND override both URLs.
client = Celery(broker="amqp://guest:guest@localhost:5672//", backend="redis://localhost:6379/0")


def main():
    total = client.send_task("arithmetic.add", args=(2, 3))
    words = client.send_task("text.count_words", args=("a rose is a rose",))
    print("arithmetic.add(2, 3) =", total.get(timeout=60))
    print("text.count_words('a rose is a rose') =", words.get(timeout=60))

    # A task that fails: the worker's on_failure hook logs the exception, and
    # the client receives it as the task's result.
    quotient = client.send_task("arithmetic.div", args=(1, 0))
    quotient.get(timeout=60, propagate=False)
    print("arithmetic.div(1, 0):", quotient.state, repr(quotient.result))


if __name__ == "__main__":
    main()
