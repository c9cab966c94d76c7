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
      // The speed, pitch and volume beside this picker, as they are now.
      var row = preview.closest(".voice-row");
      (row ? row.querySelectorAll("input[data-setting]") : []).forEach(function (input) {
        if (input.value !== "") url += "&" + input.dataset.setting + "=" + encodeURIComponent(input.value);
      });
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
    // Copy a secret shown once (the new API token) to the clipboard.
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var source = document.getElementById(copy.dataset.copy);
      if (!source || !navigator.clipboard) return;
      navigator.clipboard.writeText(source.textContent.trim()).then(function () {
        copy.textContent = copy.dataset.copied || copy.textContent;
      });
      return;
    }
    var optin = event.target.closest("[data-enable-notifications]");
    if (optin && "Notification" in window) {
      Notification.requestPermission().then(updateOptin);
    }
  });

  // --- the job page's player follows the dialogue ---------------------------
  // The lines (li.turn with data-start-ms) are the index: the one being heard
  // is highlighted and scrolled into view, the timeline's playhead and zoomed
  // strip move with the audio, and the keyboard moves by line.
  var lines = [];
  var current = -1;

  function collectLines() {
    lines = Array.prototype.slice.call(document.querySelectorAll("li.turn[data-start-ms]"));
  }

  function lineAt(ms) {
    // The last line that started at or before ms (binary search: 1,000 lines).
    var low = 0, high = lines.length - 1, found = -1;
    while (low <= high) {
      var mid = (low + high) >> 1;
      if (+lines[mid].dataset.startMs <= ms) { found = mid; low = mid + 1; } else { high = mid - 1; }
    }
    return found;
  }

  function setSvgWindow(ms, duration) {
    var zoom = document.querySelector(".timeline svg.zoom");
    document.querySelectorAll(".timeline .playhead").forEach(function (line) {
      line.setAttribute("x1", ms);
      line.setAttribute("x2", ms);
    });
    if (!zoom) return;
    var size = +zoom.dataset.windowMs;
    var start = Math.max(0, Math.min(ms - size / 3, duration - size));
    zoom.setAttribute("viewBox", start + " 0 " + size + " 100");
    var frame = document.querySelector(".timeline .zoom-window");
    if (frame) { frame.setAttribute("x", start); frame.setAttribute("width", size); }
  }

  function follow(player) {
    var timeline = document.getElementById("timeline");
    var ms = player.currentTime * 1000;
    if (timeline) setSvgWindow(ms, +timeline.dataset.durationMs);
    // A little ahead: a seek to a line's start may land a hair before it.
    var index = lineAt(ms + 50);
    followSentence(index >= 0 ? lines[index] : null, ms + 50);
    if (index === current) return;
    if (current >= 0 && lines[current]) {
      lines[current].classList.remove("current");
      lines[current].removeAttribute("aria-current");
    }
    document.querySelectorAll(".timeline .turn-bar.current").forEach(function (bar) { bar.classList.remove("current"); });
    current = index;
    if (index < 0) return;
    var line = lines[index];
    line.classList.add("current");
    line.setAttribute("aria-current", "true");
    var bar = document.querySelector('.timeline .turn-bar[data-turn="' + line.id.replace("turn-", "") + '"]');
    if (bar) bar.classList.add("current");
    if (!player.paused) line.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // Inside the line heard, the sentence heard: the last one started at or
  // before ms, while it lasts (between sentences, in a pause, none is).
  var sentence = null;

  function followSentence(line, ms) {
    var found = null;
    if (line) {
      line.querySelectorAll(".sentence[data-start-ms]").forEach(function (candidate) {
        if (+candidate.dataset.startMs <= ms) found = candidate;
      });
      if (found && ms > +found.dataset.endMs + 250) found = null;
    }
    if (found === sentence) return;
    if (sentence) sentence.classList.remove("current-sentence");
    sentence = found;
    if (sentence) sentence.classList.add("current-sentence");
  }

  function dockPlayer() {
    var place = document.querySelector(".player");
    if (!place || !window.IntersectionObserver || !lines.length) return;
    new IntersectionObserver(function (entries) {
      var docked = !entries[0].isIntersecting && entries[0].boundingClientRect.top < 0;
      place.classList.toggle("docked", docked);
      document.body.classList.toggle("player-docked", docked);
    }).observe(place);
  }

  ["timeupdate", "seeked", "play"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      if (event.target.id === "player") follow(event.target);
    }, true);
  });

  function seekTo(player, seconds) {
    player.currentTime = Math.max(0, seconds);
    player.play().catch(function () {});
  }

  // A click anywhere on the timeline plays from that moment.
  document.addEventListener("click", function (event) {
    var svg = event.target.closest(".timeline svg");
    var player = document.getElementById("player");
    if (!svg || !player) return;
    var box = svg.getBoundingClientRect();
    var view = svg.viewBox.baseVal;
    var ms = view.x + (event.clientX - box.left) / box.width * view.width;
    seekTo(player, ms / 1000);
  });

  // Space plays or pauses; up and down go to the previous or next line.
  document.addEventListener("keydown", function (event) {
    var player = document.getElementById("player");
    if (!player || !lines.length || event.altKey || event.ctrlKey || event.metaKey) return;
    var target = event.target;
    // Typing, and controls that own these keys, keep them (a link doesn't use Space).
    if (target.closest("input, textarea, select, button, audio, [contenteditable]")) return;
    if (event.key === " ") {
      event.preventDefault();
      if (player.paused) player.play().catch(function () {}); else player.pause();
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var index = lineAt(player.currentTime * 1000 + 1);
      var next = event.key === "ArrowDown" ? index + 1 : index - 1;
      // "Up" from the middle of a line goes back to its start first.
      if (event.key === "ArrowUp" && index >= 0 && player.currentTime * 1000 - +lines[index].dataset.startMs > 1500) next = index;
      next = Math.max(0, Math.min(lines.length - 1, next));
      seekTo(player, +lines[next].dataset.startMs / 1000);
      lines[next].scrollIntoView({ block: "nearest" });
    }
  });

  // A notice that has faded out (CSS animation) leaves the page.
  document.addEventListener("animationend", function (event) {
    if (event.target.classList && event.target.classList.contains("toast")) event.target.remove();
  });

  // One stack of notices: the same text never twice, and only the newest few.
  var MAX_TOASTS = 4;
  function tidyToasts() {
    var seen = {};
    var toasts = Array.prototype.slice.call(document.querySelectorAll(".toasts .toast"));
    toasts.slice().reverse().forEach(function (toast) {
      var key = toast.textContent.replace(/\s+/g, " ").trim();
      if (seen[key]) toast.remove(); else seen[key] = true;
    });
    toasts = document.querySelectorAll(".toasts .toast");
    for (var i = 0; i < toasts.length - MAX_TOASTS; i++) toasts[i].remove();
  }

  // Find a voice: hide the options of every voice picker that don't match.
  document.addEventListener("input", function (event) {
    if (!event.target.matches("input[data-voice-filter]")) return;
    var words = event.target.value.toLowerCase().split(/\s+/).filter(Boolean);
    document.querySelectorAll("select.voice-select").forEach(function (select) {
      select.querySelectorAll("option").forEach(function (option) {
        var text = (option.textContent + " " + option.value + " " + (option.parentElement.label || "")).toLowerCase();
        option.hidden = !option.selected && !words.every(function (w) { return text.indexOf(w) !== -1; });
      });
      select.querySelectorAll("optgroup").forEach(function (group) {
        group.hidden = !group.querySelector("option:not([hidden])");
      });
    });
  });

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
      tidyToasts();
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

  // The language switcher posts as soon as a language is picked; its button
  // is for pages without JavaScript.
  document.addEventListener("change", function (event) {
    var select = event.target.closest && event.target.closest("select[data-autosubmit]");
    if (select && select.form) select.form.requestSubmit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
      var button = select.form && select.form.querySelector("button[type=submit]");
      if (button) button.hidden = true;
    });
    updateOptin();
    watchNotices();
    collectLines();
    dockPlayer();
    tidyToasts();
    document.body.addEventListener("htmx:afterSwap", tidyToasts);
    document.body.addEventListener("htmx:oobAfterSwap", tidyToasts);
  });
})();
