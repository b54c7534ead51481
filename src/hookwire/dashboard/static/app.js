// hookwire dashboard: small enhancements over server-rendered pages and htmx.
// Times in the browser's zone, dialogs, copy buttons, the events picker, and
// datetime-local fields that travel as UTC. No framework, no build step.
(function () {
  "use strict";

  const timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const preciseFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "short", day: "numeric",
    hour: "2-digit", minute: "2-digit", second: "2-digit", fractionalSecondDigits: 3,
  });
  const pad = (n) => String(n).padStart(2, "0");
  const localInputValue = (d) =>
    `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;

  // A moment as two unbreakable halves, its date and its time of day, with a line
  // break allowed between them (app.css): "Nov 27, 2026," / "09:36:34.394 PM".
  function momentParts(format, d) {
    const parts = format.formatToParts(d);
    const clockAt = parts.findIndex((p) => p.type === "hour" || p.type === "dayPeriod");
    const text = (list) => list.map((p) => p.value).join("");
    if (clockAt < 2 || parts[clockAt - 1].type !== "literal") return [text(parts)];
    const half = (value) => {
      const span = document.createElement("span");
      span.textContent = value;
      return span;
    };
    return [
      half(text(parts.slice(0, clockAt - 1)) + parts[clockAt - 1].value.trimEnd()),
      " ",
      half(text(parts.slice(clockAt))),
    ];
  }

  // <time datetime="…Z"> shows UTC from the server; show it in the browser's zone.
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach((el) => {
      const d = new Date(el.dateTime);
      const format = el.dataset.local === "precise" ? preciseFormat : timeFormat;
      if (!Number.isNaN(d.getTime())) el.replaceChildren(...momentParts(format, d));
    });
  }

  // A datetime-local field is in the browser's zone; its hidden twin carries UTC.
  function utcFields(root) {
    root.querySelectorAll("input[data-utc]").forEach((input) => {
      const twin = document.getElementById(input.dataset.utc);
      const d = twin && twin.value ? new Date(twin.value) : null;
      if (d && !Number.isNaN(d.getTime())) input.value = localInputValue(d);
    });
  }
  function syncUtc(event) {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.dataset.utc) return;
    const twin = document.getElementById(input.dataset.utc);
    const d = input.value ? new Date(input.value) : null;
    if (twin) twin.value = d && !Number.isNaN(d.getTime()) ? d.toISOString() : "";
  }
  // Capture phase: the twin is updated before htmx reads the form.
  document.addEventListener("input", syncUtc, true);
  document.addEventListener("change", syncUtc, true);

  // Events: "All events" disables the single types; the filter box narrows them.
  function applyAllEvents(box) {
    const list = document.getElementById(box.dataset.allEvents);
    if (list) list.disabled = box.checked;
  }
  document.addEventListener("change", (e) => {
    if (e.target.matches && e.target.matches("input[data-all-events]")) applyAllEvents(e.target);
  });
  document.addEventListener("input", (e) => {
    const box = e.target;
    if (!box.matches || !box.matches("input[data-filter]")) return;
    const list = document.getElementById(box.dataset.filter);
    const query = box.value.trim().toLowerCase();
    let shown = 0;
    list.querySelectorAll("[data-name]").forEach((item) => {
      item.hidden = !item.dataset.name.toLowerCase().includes(query);
      if (!item.hidden) shown += 1;
    });
    const none = list.querySelector(".filter-empty");
    if (none) none.hidden = shown > 0;
  });

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    // Plain-http pages have no clipboard API: fall back to a selected textarea.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.className = "offscreen";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy refused"));
  }
  function briefly(button, text) {
    if (!button.dataset.label) button.dataset.label = button.textContent;
    button.style.minWidth = `${button.offsetWidth}px`; // no jump when the label changes
    button.textContent = text;
    clearTimeout(button.resetTimer);
    button.resetTimer = setTimeout(() => { button.textContent = button.dataset.label; }, 1600);
  }

  function showError(text) {
    const flash = document.getElementById("flash");
    if (!flash) return;
    const p = document.createElement("p");
    p.className = "alert error";
    p.textContent = text;
    flash.replaceChildren(p);
  }
  document.addEventListener("htmx:responseError", (e) =>
    showError(`The server answered ${e.detail.xhr.status}. Reload the page and try again.`));
  document.addEventListener("htmx:sendError", () =>
    showError("The server cannot be reached. Check the connection and try again."));

  document.addEventListener("click", (e) => {
    const target = e.target;
    const opener = target.closest("[data-open-dialog]");
    if (opener) {
      const dialog = document.getElementById(opener.dataset.openDialog);
      if (!dialog) return;
      if (opener.tagName === "A") e.preventDefault();
      const body = dialog.querySelector(".detail-body");
      if (body && opener.hasAttribute("hx-get")) body.innerHTML = '<p class="muted">Loading…</p>';
      if (!dialog.open) dialog.showModal();
      return;
    }
    const closer = target.closest("[data-close-dialog]");
    if (closer) {
      const dialog = closer.closest("dialog");
      if (dialog) dialog.close();
      return;
    }
    const copier = target.closest("[data-copy]");
    if (copier) {
      const source = document.getElementById(copier.dataset.copy);
      if (!source) return;
      const isField = source instanceof HTMLInputElement || source instanceof HTMLTextAreaElement;
      copyText(isField ? source.value : source.textContent).then(
        () => briefly(copier, "Copied"),
        () => briefly(copier, "Copy failed"),
      );
      return;
    }
    const revealer = target.closest("[data-reveal]");
    if (revealer) {
      const input = document.getElementById(revealer.dataset.reveal);
      const show = input.type === "password";
      input.type = show ? "text" : "password";
      revealer.textContent = show ? "Hide" : "Show";
      revealer.setAttribute("aria-pressed", String(show));
      return;
    }
    // A click on the backdrop of a modal closes it.
    if (target instanceof HTMLDialogElement && target.open) {
      const r = target.getBoundingClientRect();
      const inside = e.clientX >= r.left && e.clientX <= r.right && e.clientY >= r.top && e.clientY <= r.bottom;
      if (!inside) target.close();
      return;
    }
    // A log row opens like its link (the link itself is what keyboards use).
    const row = target.closest("tr[data-row-link]");
    if (row && !target.closest("a, button, input, select, textarea, label")) {
      const link = row.querySelector("a");
      if (link) link.click();
    }
  });

  function setUp(root) {
    localTimes(root);
    utcFields(root);
    root.querySelectorAll("input[data-all-events]").forEach(applyAllEvents);
    root.querySelectorAll("dialog[data-autoshow]").forEach((dialog) => {
      dialog.removeAttribute("data-autoshow");
      if (dialog.open) dialog.close();
      dialog.showModal();
    });
    // A form that came back with errors: put the cursor on the first one.
    const invalid = root.querySelector && root.querySelector("[aria-invalid=true]");
    if (invalid && root !== document.body) invalid.focus();
  }

  if (window.htmx) {
    window.htmx.onLoad(setUp);
  } else {
    document.addEventListener("DOMContentLoaded", () => setUp(document.body));
  }
})();
