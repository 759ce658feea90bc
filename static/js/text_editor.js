// Email text editor: a placeholder button inserts its text at the cursor of the
// subject or body last edited in the open language tab (the body if none), then
// announces the change so the live preview follows.
(function () {
  var last = null;
  document.addEventListener("focusin", function (event) {
    if (event.target.classList && event.target.classList.contains("editor-text")) {
      last = event.target;
    }
  });
  document.addEventListener("click", function (event) {
    var chip = event.target.closest("[data-insert]");
    if (!chip) return;
    var form = chip.closest("form");
    var open = form.querySelector("input[name=language]:checked");
    var language = open ? open.value : "en";
    var target = last && last.form === form && last.id.indexOf(language + "-") === 0
      ? last : form.querySelector("#" + language + "-body");
    var text = chip.getAttribute("data-insert");
    var start = target.selectionStart == null ? target.value.length : target.selectionStart;
    var end = target.selectionEnd == null ? start : target.selectionEnd;
    target.value = target.value.slice(0, start) + text + target.value.slice(end);
    target.focus();
    target.selectionStart = target.selectionEnd = start + text.length;
    target.dispatchEvent(new Event("input", { bubbles: true }));
  });
  // The customer search (name "q") asks for its own list; its typing must not
  // re-render the preview (the list's arrival does). A trigger filter would do
  // this in the markup, but htmx evaluates filters as code, which the
  // Content-Security-Policy forbids.
  function stop(event) {
    event.stopPropagation();
  }
  function bind(root) {
    var searches = root.querySelectorAll ? root.querySelectorAll(".text-editor input[name=q]") : [];
    Array.prototype.forEach.call(searches, function (search) {
      if (search.dataset.searchBound) return;
      search.dataset.searchBound = "1";
      search.addEventListener("input", stop);
      search.addEventListener("change", stop);
    });
  }
  bind(document);
  // The editor comes back from a save as new markup: bind its search again.
  document.addEventListener("htmx:load", function (event) {
    bind(event.detail.elt.parentNode || event.detail.elt);
  });
})();
