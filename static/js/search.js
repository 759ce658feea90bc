// The search box in the top bar: arrow keys move through the dropdown, Enter
// opens the chosen row (or the results page when none is chosen), Escape closes.
(function () {
  "use strict";

  function setup() {
    var input = document.getElementById("global-search");
    var list = document.getElementById("search-suggestions");
    if (!input || !list) {
      return;
    }
    var active = -1;

    function options() {
      return Array.prototype.slice.call(list.querySelectorAll(".search-option"));
    }

    function choose(index) {
      var all = options();
      all.forEach(function (option, i) {
        option.classList.toggle("active", i === index);
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
      if (index >= 0 && all[index]) {
        input.setAttribute("aria-activedescendant", all[index].id);
        all[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function close() {
      list.innerHTML = "";
      input.setAttribute("aria-expanded", "false");
      choose(-1);
    }

    list.addEventListener("htmx:afterSwap", function () {
      active = -1;
      input.setAttribute("aria-expanded", options().length ? "true" : "false");
    });

    input.addEventListener("keydown", function (event) {
      var all = options();
      if (event.key === "ArrowDown" && all.length) {
        event.preventDefault();
        choose(active + 1 < all.length ? active + 1 : 0);
      } else if (event.key === "ArrowUp" && all.length) {
        event.preventDefault();
        choose(active > 0 ? active - 1 : all.length - 1);
      } else if (event.key === "Enter" && active >= 0 && all[active]) {
        event.preventDefault();
        window.location.assign(all[active].href);
      } else if (event.key === "Escape") {
        close();
      }
    });

    // Clicking elsewhere closes the dropdown; a click on a row follows its link.
    document.addEventListener("click", function (event) {
      if (!input.form.contains(event.target)) {
        close();
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", setup);
  } else {
    setup();
  }
})();
