// blindmatch console: the only script of ours. No inline script anywhere (the CSP forbids it), no eval.
//
// Reveal: the clear image is fetched by POST (with the session's CSRF token) so that every view is a recorded,
// deliberate act; the bytes become a blob: URL that lives only in this page and is revoked when it closes.
// Without JavaScript the same form posts normally and the browser shows the image on its own.
"use strict";

(function () {
  const blobUrls = [];

  function csrfToken(form) {
    const field = form.querySelector('input[name="csrf_token"]');
    return field ? field.value : "";
  }

  async function reveal(event) {
    const form = event.target.closest("form[data-reveal]");
    if (!form) return;
    event.preventDefault();
    const target = document.getElementById(form.dataset.reveal);
    const status = document.getElementById(form.dataset.reveal + "-status");
    const button = form.querySelector("button");
    if (button) button.disabled = true;
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { "X-CSRF-Token": csrfToken(form) },
        credentials: "same-origin",
        cache: "no-store",
      });
      if (!response.ok) {
        const text = await response.text();
        throw new Error(response.status + " " + text.slice(0, 200));
      }
      const url = URL.createObjectURL(await response.blob());
      blobUrls.push(url);
      target.src = url;
      target.alt = target.dataset.revealedAlt || "revealed image";
      target.classList.remove("preview");
      target.classList.add("clear");
      target.closest(".evidence").classList.add("revealed");
      if (status) status.textContent = "Revealed; this view is recorded. Shown in greyscale.";
      form.hidden = true;
      const toggle = document.querySelector('[data-colour-toggle="' + target.id + '"]');
      if (toggle) toggle.hidden = false;
    } catch (err) {
      if (status) status.textContent = "Could not reveal: " + err.message;
      if (button) button.disabled = false;
    }
  }

  function toggleColour(event) {
    const button = event.target.closest("[data-colour-toggle]");
    if (!button) return;
    const img = document.getElementById(button.dataset.colourToggle);
    const coloured = img.classList.toggle("in-colour");
    button.textContent = coloured ? "Show in greyscale" : "Show in colour";
    button.setAttribute("aria-pressed", coloured ? "true" : "false");
  }

  document.addEventListener("submit", reveal);
  document.addEventListener("click", toggleColour);
  window.addEventListener("pagehide", function () {
    blobUrls.forEach(function (u) { URL.revokeObjectURL(u); });
  });
})();
