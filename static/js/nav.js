/* The main navigation on a narrow screen: folded behind the "Menu" button so the
   page starts with its content. Without script the links stay listed. */
(function () {
  "use strict";

  function setUp() {
    var nav = document.getElementById("main-nav");
    var toggle = nav && nav.querySelector(".nav-toggle");
    if (!toggle) return;
    nav.classList.add("nav-foldable");
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      var open = nav.classList.toggle("nav-open");
      toggle.setAttribute("aria-expanded", open ? "true" : "false");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && nav.classList.contains("nav-open")) {
        nav.classList.remove("nav-open");
        toggle.setAttribute("aria-expanded", "false");
        toggle.focus();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setUp);
  } else {
    setUp();
  }
})();
