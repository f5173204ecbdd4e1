/* The console's ticket page: a reply template picked from its list fills the note it names
   (data-fills). Loaded as a file: the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";
  function wire(select) {
    var target = document.getElementById(select.getAttribute("data-fills"));
    if (!target) { return; }
    select.addEventListener("change", function () {
      if (!select.value) { return; }
      target.value = select.value;
      target.dispatchEvent(new Event("input", { bubbles: true }));
      target.focus();
    });
  }
  function start() {
    var selects = document.querySelectorAll("select[data-fills]");
    for (var i = 0; i < selects.length; i++) { wire(selects[i]); }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
