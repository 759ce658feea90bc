/* My day: the ticked invoices' total beside the promise amount, and the keyboard
   (j/k move between rows, Enter opens the row's Act panel, Esc closes it).
   No inline script, so a Content-Security-Policy can forbid them. */
(function () {
  "use strict";

  // --- The ticked invoices and the promise amount ------------------------------

  function formatted(minor, box) {
    var units = Number(box.dataset.minorUnits || 2);
    var value = minor / Math.pow(10, units);
    var grouped = new Intl.NumberFormat(box.dataset.locale || "en", {
      minimumFractionDigits: units,
      maximumFractionDigits: units,
    }).format(value);
    return { typed: grouped, shown: grouped + " " + box.dataset.currency };
  }

  function escaped(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  // A typed amount in minor units, read as the server reads it (o2c.numbers):
  // as the locale writes numbers (1,250.00 en, 1.250,00 de), else plain (12.5).
  function typedMinor(text, units, locale) {
    var group = ",", decimal = ".";
    new Intl.NumberFormat(locale).formatToParts(12345.6).forEach(function (part) {
      if (part.type === "group") group = part.value;
      if (part.type === "decimal") decimal = part.value;
    });
    var cleaned = text.trim();
    if (/^\s$/.test(group)) cleaned = cleaned.replace(/\s/g, group);
    var g = escaped(group), d = escaped(decimal);
    var local = new RegExp("^(\\d{1,3}(" + g + "\\d{3})+|\\d+)(" + d + "\\d+)?$");
    var number;
    if (local.test(cleaned)) {
      number = cleaned.split(group).join("").split(decimal).join(".");
    } else if (/^\d+(\.\d+)?$/.test(cleaned)) {
      number = cleaned;
    } else {
      return NaN;
    }
    return Math.round(Number(number) * Math.pow(10, units));
  }

  function amountCheck(input, ticked, total, units, locale) {
    var check = input.parentElement.querySelector("[data-amount-check]");
    if (!check) return;
    var amount = typedMinor(input.value, units, locale);
    check.classList.remove("text-danger");
    if (ticked.count === 0) {
      check.textContent = "Tick the invoices it is for.";
    } else if (isNaN(amount) || amount === ticked.sum) {
      check.textContent = isNaN(amount) ? "" : "All of the ticked invoices.";
    } else if (amount < ticked.sum) {
      check.textContent = "Part of the ticked " + total.shown + ".";
    } else {
      check.textContent = "More than the ticked " + total.shown + ".";
      check.classList.add("text-danger");
    }
  }

  function refresh(panel) {
    var box = panel.querySelector("[data-invoice-choices]");
    if (!box) return;
    var ticked = { sum: 0, count: 0 };
    box.querySelectorAll('input[name="invoices"]:checked').forEach(function (input) {
      ticked.sum += Number(input.dataset.minor);
      ticked.count += 1;
    });
    var total = formatted(ticked.sum, box);
    var units = Number(box.dataset.minorUnits || 2);
    panel.querySelectorAll("[data-selected-total]").forEach(function (el) {
      el.textContent = total.shown;
    });
    panel.querySelectorAll("[data-selected-count]").forEach(function (el) {
      el.textContent = String(ticked.count);
    });
    panel.querySelectorAll("[data-promise-amount]").forEach(function (input) {
      // The amount follows the ticks until the collector types one.
      if (!input.hasAttribute("data-edited")) input.value = total.typed;
      amountCheck(input, ticked, total, units, box.dataset.locale || "en");
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches('[data-invoice-choices] input[name="invoices"]')) {
      var panel = event.target.closest("[data-act-panel]");
      if (panel) refresh(panel);
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target.matches("[data-promise-amount]")) {
      event.target.setAttribute("data-edited", "");
      refresh(event.target.closest("[data-act-panel]"));
    }
  });

  // --- Rows and the keyboard ---------------------------------------------------

  var current = null;
  var currentId = "";

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
  }

  function currentRow() {
    if (current && !current.isConnected && currentId) {
      current = document.getElementById(currentId);
    }
    return current && current.isConnected ? current : null;
  }

  function choose(row, focus) {
    var previous = currentRow();
    if (previous) previous.classList.remove("is-current");
    current = row;
    currentId = row.id || "";
    row.classList.add("is-current");
    if (focus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: "nearest" });
    }
  }

  function move(step) {
    var list = rows();
    if (!list.length) return;
    var at = list.indexOf(currentRow());
    var next = at === -1 ? (step > 0 ? 0 : list.length - 1) : at + step;
    if (next >= 0 && next < list.length) choose(list[next], true);
  }

  function openPanel(row) {
    var panel = row.querySelector("tr.panel-row:not([hidden]) [data-act-panel]");
    if (panel) {
      panel.focus();
      return;
    }
    var act = row.querySelector("[data-act]");
    if (act) act.click();
  }

  function closePanel(panelRow) {
    var row = panelRow.closest("[data-queue-row]");
    if (panelRow.hasAttribute("data-slot")) {
      // A section row keeps an empty slot for the next Act.
      panelRow.replaceChildren();
      panelRow.hidden = true;
    } else {
      panelRow.remove();
    }
    if (row) choose(row, true);
  }

  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable]");
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !document.querySelector("[data-my-day]")) return;
    if (event.key === "Escape") {
      var inside = event.target.closest && event.target.closest("tr.panel-row");
      var row = currentRow();
      var open = inside || (row && row.querySelector("tr.panel-row:not([hidden])"));
      if (open) {
        event.preventDefault();
        closePanel(open);
      }
      return;
    }
    if (typing(event.target)) return;
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      move(event.key === "j" ? 1 : -1);
    } else if (event.key === "Enter" && currentRow() && !event.target.closest("a, button")) {
      event.preventDefault();
      openPanel(currentRow());
    }
  });

  document.addEventListener("click", function (event) {
    var close = event.target.closest("[data-act-close]");
    if (close) {
      closePanel(close.closest("tr.panel-row"));
      return;
    }
    var row = event.target.closest("[data-queue-row]");
    if (row) choose(row, false);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.elt;
    if (!target || !target.querySelectorAll) return;
    var panels = target.matches("[data-act-panel]") ? [target] : target.querySelectorAll("[data-act-panel]");
    panels.forEach(refresh);
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var row = target.closest("[data-queue-row]") || (target.matches("[data-queue-row]") ? target : null);
    if (row && (row.id === currentId || (source && source.matches("[data-act]")))) {
      row.classList.add("is-current");
      current = row;
      currentId = row.id || "";
    }
    if (source && source.matches("[data-act]") && panels.length) {
      panels[0].focus({ preventScroll: true });
      panels[0].scrollIntoView({ block: "nearest" });
    }
  });
})();
