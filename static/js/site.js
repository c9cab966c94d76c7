// Small enhancements on top of server-rendered pages and htmx. Every link
// handled here still works without JavaScript (it opens the audio instead).
(function () {
  "use strict";

  function play(player, url) {
    if (player.getAttribute("src") !== url) player.setAttribute("src", url);
    player.play().catch(function () { /* autoplay refused: the controls are there */ });
  }

  document.addEventListener("click", function (event) {
    // ▶ next to a voice picker: a sample of the voice currently selected.
    var preview = event.target.closest("a[data-preview-for]");
    if (preview) {
      event.preventDefault();
      var select = document.getElementById(preview.dataset.previewFor);
      var provider = document.querySelector("select[name=provider]");
      var url = preview.pathname + "?provider=" + encodeURIComponent(provider ? provider.value : preview.dataset.provider) +
        "&voice=" + encodeURIComponent(select ? select.value : "");
      play(document.getElementById("preview-player"), url);
      return;
    }
    // ▶ Play in the job list: one shared player above the list, so the
    // polling swaps of the list never cut the sound off.
    var playLink = event.target.closest("a[data-play]");
    if (playLink) {
      event.preventDefault();
      var listPlayer = document.querySelector(playLink.dataset.play);
      listPlayer.parentElement.hidden = false;
      listPlayer.title = playLink.dataset.title || "";
      play(listPlayer, playLink.getAttribute("href"));
      return;
    }
    // A bar of the timeline: play from the start of that turn.
    var segment = event.target.closest("a[data-seek]");
    if (segment) {
      var player = document.getElementById("player");
      if (!player) return;
      event.preventDefault();
      player.currentTime = parseFloat(segment.dataset.seek);
      player.play().catch(function () {});
      return;
    }
    var dismiss = event.target.closest("[data-dismiss]");
    if (dismiss) {
      dismiss.parentElement.remove();
      return;
    }
    var optin = event.target.closest("[data-enable-notifications]");
    if (optin && "Notification" in window) {
      Notification.requestPermission().then(updateOptin);
    }
  });

  // Mark the turn being heard on the timeline.
  document.addEventListener("timeupdate", function (event) {
    if (event.target.id !== "player") return;
    var ms = event.target.currentTime * 1000;
    document.querySelectorAll(".timeline a[data-seek]").forEach(function (segment) {
      var current = ms >= +segment.dataset.startMs && ms < +segment.dataset.endMs;
      segment.classList.toggle("current", current);
    });
  }, true);

  function updateOptin() {
    var optin = document.querySelector(".notify-optin");
    if (optin) optin.hidden = !("Notification" in window) || Notification.permission !== "default";
  }

  // "Job finished" notices arrive in #notices (hx-swap-oob); if the user
  // allowed it, the browser shows them too, for when the tab is in the back.
  function watchNotices() {
    var notices = document.getElementById("notices");
    if (!notices || !window.MutationObserver) return;
    new MutationObserver(function (records) {
      records.forEach(function (record) {
        record.addedNodes.forEach(function (node) {
          if (node.nodeType !== 1 || !node.dataset.notify) return;
          if ("Notification" in window && Notification.permission === "granted") {
            new Notification("ttsjobs", { body: node.dataset.notify });
          }
        });
      });
    }).observe(notices, { childList: true });
  }

  document.addEventListener("DOMContentLoaded", function () {
    updateOptin();
    watchNotices();
  });
})();
