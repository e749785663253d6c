// The supervisors' "Rappels" page: cancel, retry, reassign (POST /api/callbacks/{id}/...).
"use strict";
(function () {
  const { send } = window.aig;
  const result = document.getElementById("callback-result");
  if (!result) return;
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", async function () {
      const id = button.getAttribute("data-id");
      const action = button.getAttribute("data-action");
      let url = "/api/callbacks/" + encodeURIComponent(id) + "/" + (action === "cancel" ? "cancel" : "retry");
      let body = {};
      if (action === "reassign") {
        const select = document.querySelector('select[data-partner-for="' + CSS.escape(id) + '"]');
        if (!select || !select.value) { result.textContent = "Choisissez un partenaire."; return; }
        body = { partner: select.value };
      }
      const answer = await send("POST", url, body);
      if (answer.ok) {
        result.textContent = "Fait : " + id + " est " + (answer.data && answer.data.status) + ".";
        window.location.reload();
      } else {
        result.textContent = (answer.data && answer.data.message) || ("Erreur " + answer.status);
      }
    });
  }
})();
