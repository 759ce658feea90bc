/* Small page behaviours declared by data attributes, so no page needs inline
   event handlers (the Content-Security-Policy allows scripts from files only):
   - form[data-confirm]: asks before submitting;
   - select[data-autosubmit]: submits its form when changed;
   - input[data-select-on-click]: selects its whole value when clicked. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  }, true);

  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });

  document.addEventListener("click", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-select-on-click")) field.select();
  });
})();
