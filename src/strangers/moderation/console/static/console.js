// The moderator console's only script (the CSP allows no inline script). Every word it
// shows comes from the page (data-* attributes the server filled from the catalogues).
// Without script every form still works: the server asks for confirmations itself.
"use strict";

// Frames arrive blurred by the server; a click swaps one for the clear image, whose
// request the server records in the audit log. Without script, the link opens it.
document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a.reveal") : null;
  if (!link) return;
  const image = link.querySelector("img");
  if (!image || image.dataset.state === "clear") return;
  event.preventDefault();
  image.src = link.dataset.clear;
  image.dataset.state = "clear";
  image.classList.remove("blurred");
  link.setAttribute("aria-label", link.dataset.revealed || "");
});

// "After a decision, open the next case": a choice kept on this device, sent with
// every decision as the form's "then" field.
const THEN_KEY = "strangers.console.then";
const thenBox = document.getElementById("then-next");
if (thenBox) {
  thenBox.checked = localStorage.getItem(THEN_KEY) !== "stay";
  thenBox.closest(".then").hidden = false;
  thenBox.addEventListener("change", () => {
    localStorage.setItem(THEN_KEY, thenBox.checked ? "next" : "stay");
  });
}

// Bans over 24 h and escalation ask first, in a dialog; the answer fills the form's
// "confirm" field, which the server requires (it refuses the form without it).
const dialog = document.getElementById("confirm-dialog");
function confirmFirst(form, button) {
  if (!dialog || typeof dialog.showModal !== "function") return false;
  document.getElementById("confirm-text").textContent = button.dataset.confirm;
  dialog.returnValue = "";
  dialog.addEventListener(
    "close",
    () => {
      if (dialog.returnValue !== "confirm") {
        button.focus();
        return;
      }
      form.elements.confirm.value = button.dataset.confirmValue || button.value;
      form.requestSubmit(button);
    },
    { once: true },
  );
  dialog.showModal();
  return true;
}

document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  const button = event.submitter;
  if (
    button instanceof HTMLButtonElement &&
    button.dataset.confirm &&
    form.elements.confirm &&
    !form.elements.confirm.value
  ) {
    if (confirmFirst(form, button)) {
      event.preventDefault();
      return;
    }
  }
  // A form is sent once: a second press while the first is on its way does nothing.
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  if (thenBox && form.classList.contains("decision") && form.elements.then) {
    form.elements.then.value = thenBox.checked ? "next" : "stay";
  }
  form.dataset.sent = "1";
});

// The queue's count, asked again every few seconds while the page is in view; a
// change is said (aria-live) with a word to refresh, never by reloading under the
// moderator's hands.
const count = document.getElementById("queue-count");
if (count) {
  const first = `${count.dataset.waiting}/${count.dataset.unclaimed}`;
  const every = Math.max(5, Number(count.dataset.every) || 30) * 1000;
  const ask = async () => {
    if (document.hidden) return;
    try {
      const answer = await fetch("/mod/queue/count.json", { cache: "no-store" });
      if (!answer.ok) return;
      const { waiting, unclaimed } = await answer.json();
      let text = count.dataset.template
        .replace("{waiting}", waiting)
        .replace("{unclaimed}", unclaimed);
      if (`${waiting}/${unclaimed}` !== first) text += ` ${count.dataset.changed}`;
      if (count.textContent !== text) count.textContent = text;
    } catch {
      // Offline for a moment: the next tick tries again.
    }
  };
  setInterval(ask, every);
}

// Keyboard shortcuts (listed in the "?" dialog and the page's foot). Never while
// typing in a field, never with a modifier, never over an open dialog.
function typing(target) {
  return (
    target instanceof Element &&
    (target.closest("input, textarea, select, [contenteditable]") !== null)
  );
}

let selected = -1;
function rows() {
  return Array.from(document.querySelectorAll("#queue tbody tr"));
}
function select(index) {
  const all = rows();
  if (all.length === 0) return;
  selected = Math.max(0, Math.min(all.length - 1, index));
  all.forEach((row, i) => row.classList.toggle("selected", i === selected));
  const link = all[selected].querySelector("a.case-link");
  if (link) link.focus();
}

function submit(id) {
  const form = document.getElementById(id);
  if (form instanceof HTMLFormElement) form.requestSubmit();
  return form !== null;
}

const shortcuts = document.getElementById("shortcuts");
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (typing(event.target)) return;
  if (shortcuts && shortcuts.open && event.key === "?") {
    shortcuts.close();
    event.preventDefault();
    return;
  }
  if (document.querySelector("dialog[open]")) return;
  const row = rows();
  const current = row.findIndex((r) => r.contains(document.activeElement));
  if (current >= 0) selected = current;
  let done = true;
  switch (event.key) {
    case "j":
      select(selected + 1);
      break;
    case "k":
      select(selected < 0 ? 0 : selected - 1);
      break;
    case "o": {
      const link = row[selected] ? row[selected].querySelector("a.case-link") : null;
      if (link) link.click();
      else done = false;
      break;
    }
    case "c":
      done = submit("claim-form");
      break;
    case "n":
      done = submit("next-form");
      break;
    case "u": {
      const back = document.getElementById("back-to-queue");
      if (back) back.click();
      else done = false;
      break;
    }
    case "r": {
      const refresh = document.getElementById("refresh");
      if (refresh) refresh.click();
      else window.location.reload();
      break;
    }
    case "/": {
      const search = document.getElementById("q");
      if (search) search.focus();
      else window.location.assign("/mod#q");
      break;
    }
    case "?":
      if (shortcuts) shortcuts.showModal();
      else done = false;
      break;
    default:
      done = false;
  }
  if (done) event.preventDefault();
});

if (window.location.hash === "#q") {
  const search = document.getElementById("q");
  if (search) search.focus();
}
