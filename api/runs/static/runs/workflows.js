// The form that starts a workflow: choosing another test case puts that test
// case's example in the job data, unless you have edited the job data.
"use strict";

(function () {
  const testcase = document.getElementById("testcase");
  const jobData = document.getElementById("job_data");
  const examples = JSON.parse(document.getElementById("examples").textContent);
  let example = jobData.value;

  testcase.addEventListener("change", function () {
    if (jobData.value.trim() === example.trim() || jobData.value.trim() === "") {
      example = JSON.stringify(examples[testcase.value]);
      jobData.value = example;
    }
  });
})();
