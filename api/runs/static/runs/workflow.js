// A running workflow's page: ask the server for the part of the page that
// changes (state, progress, steps, their timeline and logs, buttons) once a
// second, and put it in place, until the workflow has finished. Without
// JavaScript, a reload shows the same part, rendered the same way.
"use strict";

(function () {
  let live = document.getElementById("live");
  if (!live || live.dataset.finished === "true") {
    return;
  }
  const every = Number(live.dataset.poll) || 1000;

  async function update() {
    try {
      const answer = await fetch(live.dataset.url, { cache: "no-store" });
      if (!answer.ok) {
        throw new Error(`${answer.status} ${answer.statusText}`);
      }
      const fresh = document.createElement("template");
      fresh.innerHTML = (await answer.text()).trim();
      const section = fresh.content.firstElementChild;
      // A step's log that you opened (or closed) stays so.
      for (const details of live.querySelectorAll("details[id]")) {
        const same = section.querySelector(`details[id="${details.id}"]`);
        if (same) {
          same.open = details.open;
        }
      }
      live.replaceWith(section);
      live = section;
    } catch (error) {
      const note = live.querySelector(".note");
      if (note) {
        note.textContent = `The server did not answer (${error.message}); trying again.`;
      }
    }
    if (live.dataset.finished !== "true") {
      setTimeout(update, every);
    }
  }

  setTimeout(update, every);
})();
