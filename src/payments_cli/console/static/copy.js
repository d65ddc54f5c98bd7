// The console's one script, served from the console itself (its Content-Security-Policy allows no other and no
// inline script): a button with data-copy="<id>" copies that field's value to the clipboard and says so.
"use strict";
document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const said = document.getElementById(button.dataset.copy + "-copied");
  navigator.clipboard.writeText(field.value).then(
    () => { if (said) said.textContent = "Copied."; },
    () => { field.select(); if (said) said.textContent = "Select the secret and copy it (the browser refused)."; },
  );
});
