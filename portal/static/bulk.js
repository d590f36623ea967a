// Bulk upload with a progress bar: the same form, sent with XMLHttpRequest so that the
// browser reports how much of the file has gone; the portal answers with a redirect to
// the result page, which this script then opens. Without JavaScript the form posts as usual.
"use strict";
(function () {
  var form = document.getElementById("bulk-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("progress-box");
    var bar = document.getElementById("progress");
    var text = document.getElementById("progress-text");
    var button = form.querySelector("button[type=submit]");
    box.hidden = false;
    button.disabled = true;
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        var pct = Math.round(100 * e.loaded / e.total);
        bar.value = pct;
        text.textContent = "Sent " + pct + "% of the file.";
      }
    });
    xhr.upload.addEventListener("load", function () {
      bar.value = 100;
      text.textContent = "File sent; the node is validating every row…";
    });
    xhr.addEventListener("load", function () {
      if (xhr.status >= 200 && xhr.status < 300 && xhr.responseURL) {
        window.location.assign(xhr.responseURL);
      } else {
        text.textContent = "The upload failed (HTTP " + xhr.status + "). Try again.";
        button.disabled = false;
      }
    });
    xhr.addEventListener("error", function () {
      text.textContent = "The upload failed: the portal could not be reached.";
      button.disabled = false;
    });
    xhr.send(new FormData(form));
  });
})();
