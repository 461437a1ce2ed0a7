// The moderator console's only script (the CSP allows no inline script).
// Frames arrive blurred by the server; a click swaps one for the clear image, whose
// request the server records in the audit log. Without script, the link opens it.
"use strict";

document.addEventListener("click", (event) => {
  const link = event.target instanceof Element ? event.target.closest("a.reveal") : null;
  if (!link) return;
  const image = link.querySelector("img");
  if (!image || image.dataset.state === "clear") return;
  event.preventDefault();
  image.src = link.dataset.clear;
  image.dataset.state = "clear";
  image.classList.remove("blurred");
  link.setAttribute("aria-label", "Frame revealed");
});

// A form is sent once: a second press while the first is on its way does nothing.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method.toLowerCase() !== "post") return;
  if (form.dataset.sent === "1") {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
});
