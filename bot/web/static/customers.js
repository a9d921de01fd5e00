// Admin: erase a customer after an explicit confirmation (the server also wants the id repeated).
"use strict";
(() => {
  const { api } = deskbot;
  for (const button of document.querySelectorAll("button.erase")) {
    button.addEventListener("click", async () => {
      const id = Number(button.dataset.id);
      const typed = prompt("Erasing cannot be undone. Type the customer id (" + id + ") to erase them:");
      if (typed === null || Number(typed) !== id) return;
      try {
        const result = await api("POST", "/api/customers/" + id + "/erase", { confirm: id });
        button.replaceWith(document.createTextNode("erased: " + result.messages_redacted + " messages redacted"));
      } catch (error) {
        document.getElementById("customers-error").textContent = error.message;
      }
    });
  }
})();
