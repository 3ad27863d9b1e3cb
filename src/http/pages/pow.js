// Proof of work for the signup form (docs/bots.md): on submit, fetch a challenge, find a
// solution such that SHA-256(challenge ":" solution) starts with `difficulty` zero bits, fill
// the form's hidden fields and submit. Anything going wrong submits the form as it is: the
// server then takes it on its form token alone, as it does with JavaScript off.
"use strict";
(function () {
  function zeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(bytes[i]) - 24;
    }
    return bits;
  }

  async function solve(challenge, difficulty) {
    var encoder = new TextEncoder();
    // Hashes are asked for in batches: one await per hash would spend most of the time waiting.
    for (var start = 0; ; start += 256) {
      var batch = [];
      for (var n = start; n < start + 256; n++) {
        batch.push(crypto.subtle.digest("SHA-256", encoder.encode(challenge + ":" + n)));
      }
      var hashes = await Promise.all(batch);
      for (var i = 0; i < hashes.length; i++) {
        if (zeroBits(new Uint8Array(hashes[i])) >= difficulty) return String(start + i);
      }
    }
  }

  function guard(form) {
    var challengeField = form.querySelector('input[name="pow_challenge"]');
    var solutionField = form.querySelector('input[name="pow_solution"]');
    if (!challengeField || !solutionField || !window.crypto || !crypto.subtle || !window.fetch) return;
    var solving = false;
    form.addEventListener("submit", function (event) {
      if (solutionField.value || solving) return;
      event.preventDefault();
      solving = true;
      var button = form.querySelector('button[type="submit"]');
      if (button) button.disabled = true;
      fetch("/subscriptions/challenge", { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : Promise.reject(response.status); })
        .then(function (c) {
          return solve(c.challenge, c.difficulty).then(function (solution) {
            challengeField.value = c.challenge;
            solutionField.value = solution;
          });
        })
        .catch(function () { /* the form token alone, as without JavaScript */ })
        .then(function () {
          if (button) button.disabled = false;
          form.submit();
        });
    });
  }

  document.querySelectorAll("form").forEach(guard);
})();
