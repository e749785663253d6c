// Memo editor: save, add, delete sections through the API.
"use strict";
(function () {
  const { send } = window.aig;
  for (const form of document.querySelectorAll("form.memo-form")) {
    const id = form.getAttribute("data-id");
    const result = form.querySelector(".result");
    function values() {
      const data = new FormData(form);
      return { title: data.get("title") || "", body: data.get("body") || "", needs: data.getAll("needs"), sectors: data.getAll("sectors") };
    }
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const r = id ? await send("PUT", "/api/memo/" + id, values()) : await send("POST", "/api/memo", values());
      result.textContent = r.ok ? "Enregistré." : ((r.data && r.data.message) || "Erreur " + r.status);
      if (r.ok && !id) window.location.reload();
    });
    const remove = form.querySelector("button[data-delete]");
    if (remove) remove.addEventListener("click", async function () {
      const r = await send("DELETE", "/api/memo/" + id);
      if (r.ok) form.closest("article").remove(); else result.textContent = "Erreur " + r.status;
    });
  }
})();
