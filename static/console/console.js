// Engram console: small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-HTTP deployments have no async clipboard: fall back to a selected textarea.
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try {
        document.execCommand("copy") ? resolve() : reject(new Error("copy refused"));
      } catch (error) {
        reject(error);
      } finally {
        document.body.removeChild(area);
      }
    });
  }

  function onCopyClick(event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var status = document.getElementById(button.getAttribute("data-copy-status") || "");
    copyText(source.textContent.trim()).then(
      function () {
        button.textContent = "Copied";
        if (status) status.textContent = "Copied to the clipboard.";
      },
      function () {
        if (status) status.textContent = "Copy failed: select the text and copy it by hand.";
      }
    );
  }

  function onSubmit(event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }

  function revealCopyButtons() {
    document.querySelectorAll("[data-copy-target][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  document.addEventListener("click", onCopyClick);
  document.addEventListener("submit", onSubmit, true);
  document.addEventListener("DOMContentLoaded", revealCopyButtons);
})();
