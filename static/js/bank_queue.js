/* Bank queue: an open invoice found by the search fills the line's split, and the
   keyboard works down the queue (j/k move between lines, Enter opens the line's
   split with the search focused, "a" applies the top suggestion, Esc closes).
   No inline script, so a Content-Security-Policy can forbid them. */
(function () {
  "use strict";

  // --- An invoice found fills the next free row of the split ------------------

  // Amounts as the server writes them ("1234.50"), compared in minor units.
  function minor(text) {
    var value = Number(String(text || "").replace(/[,\s]/g, ""));
    return isNaN(value) ? 0 : Math.round(value * 1000);
  }

  function plain(minorUnits, like) {
    var decimals = (String(like).split(".")[1] || "").length;
    return (minorUnits / 1000).toFixed(decimals);
  }

  // Under the split: what is still to allocate, or how far the rows overshoot.
  function showLeft(form) {
    var line = form.closest("[data-bank-line]");
    var note = form.querySelector("[data-split-left]");
    if (!line || !note) return;
    var left = minor(line.dataset.lineAmount);
    form.querySelectorAll("[data-split-amount]").forEach(function (input) {
      left -= minor(input.value);
    });
    var shown = plain(Math.abs(left), line.dataset.lineAmount) + " " + line.dataset.lineCurrency;
    note.classList.toggle("text-danger", left < 0);
    if (left > 0) note.textContent = shown + " to allocate (the rest goes on the account below)";
    else if (left === 0) note.textContent = "The whole line is allocated.";
    else note.textContent = shown + " more than the line";
  }

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest("[data-split-form]");
    if (form) showLeft(form);
  });

  function fill(button) {
    var line = button.closest("[data-bank-line]");
    var form = line && line.querySelector("[data-split-form]");
    if (!form) return;
    var invoices = form.querySelectorAll("[data-split-invoice]");
    var amounts = form.querySelectorAll("[data-split-amount]");
    var free = -1;
    var taken = 0;
    for (var i = 0; i < invoices.length; i++) {
      if (invoices[i].value.trim() === button.dataset.number) return;
      if (invoices[i].value.trim()) taken += minor(amounts[i].value);
      else if (free === -1) free = i;
    }
    if (free === -1) return;
    // What is left of the line goes to this invoice, at most its open amount.
    var left = minor(line.dataset.lineAmount) - taken;
    var open = minor(button.dataset.amount);
    invoices[free].value = button.dataset.number;
    amounts[free].value = plain(left > 0 && left < open ? left : open, button.dataset.amount);
    button.disabled = true;
    button.textContent = "Added";
    showLeft(form);
    amounts[free].focus();
    amounts[free].select();
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-fill-invoice]");
    if (button) {
      fill(button);
      return;
    }
    var line = event.target.closest("[data-bank-line]");
    if (line) choose(line, false);
  });

  // --- Lines and the keyboard ---------------------------------------------------

  var current = null;
  var currentId = "";

  function lines() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-bank-line]"));
  }

  function currentLine() {
    if (current && !current.isConnected && currentId) {
      current = document.getElementById(currentId);
    }
    return current && current.isConnected ? current : null;
  }

  function choose(line, focus) {
    var previous = currentLine();
    if (previous) previous.classList.remove("is-current");
    current = line;
    currentId = line.id || "";
    line.classList.add("is-current");
    if (focus) {
      line.focus({ preventScroll: true });
      line.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var list = lines();
    if (!list.length) return;
    var at = list.indexOf(currentLine());
    var next = at === -1 ? (step > 0 ? 0 : list.length - 1) : at + step;
    if (next >= 0 && next < list.length) choose(list[next], true);
  }

  function open(line) {
    var split = line.querySelector("details[data-split]");
    if (split) {
      split.open = true;
      var search = split.querySelector("[data-invoice-search]");
      if (search) search.focus();
      return;
    }
    var undo = line.querySelector("button");
    if (undo) undo.focus();
  }

  function close(line) {
    var opened = line.querySelectorAll("details[open]");
    opened.forEach(function (details) {
      details.open = false;
    });
    choose(line, true);
    return opened.length > 0;
  }

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      var line = (event.target.closest && event.target.closest("[data-bank-line]")) || currentLine();
      if (line && line.querySelector("details[open]")) {
        event.preventDefault();
        close(line);
      }
      return;
    }
    if (typing(event.target)) return;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "Enter" && currentLine() && !event.target.closest("a, button, summary")) {
      event.preventDefault();
      open(currentLine());
    } else if (event.key === "a" && currentLine()) {
      var apply = currentLine().querySelector("[data-apply-top]");
      if (apply) {
        event.preventDefault();
        apply.click();
      }
    }
  });

  // A line answered by the server replaces its row: keep it current.
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.elt;
    if (target && target.matches && target.matches("[data-bank-line]") && target.id === currentId) {
      choose(target, true);
    }
  });
})();
