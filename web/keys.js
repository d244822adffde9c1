// Keyboard shortcuts for a shift at the console (README, "Keyboard"), and their help
// overlay on `?`. A key typed into a field, or pressed while a dialog is open, is the
// field's or the dialog's: shortcuts never fire there. Space is push-to-talk: held, the
// microphone is live while the intercom is on; released, it is muted again.

import { t } from "./i18n.js";

// [key shown, i18n key of what it does]: the overlay's list, in this order.
export const SHORTCUTS = [
  ["Enter / A", "keys.answer"],
  ["D", "keys.decline"],
  ["N", "keys.next"],
  ["H", "keys.hotline"],
  ["O", "keys.open"],
  ["E", "keys.end"],
  ["Space", "keys.talk"],
  ["M", "keys.mute"],
  ["?", "keys.help"],
];

const FIELDS = new Set(["INPUT", "TEXTAREA", "SELECT"]);

/** Whether a key pressed on `target` belongs to it: a field, or anything editable. */
function typing(target) {
  return target instanceof Element && (FIELDS.has(target.tagName) || target.isContentEditable);
}

function dialogOpen() {
  return document.querySelector("dialog[open]") !== null;
}

/** A control that does something with Enter itself (a button, a link). */
function activates(target) {
  return target instanceof Element && target.closest("button, a[href], summary") !== null;
}

/**
 * @param {{ringing: () => boolean, answer: () => void, decline: () => void,
 *          next: () => void, hotline: () => void, open: () => void, end: () => void,
 *          talking: () => boolean, hold: (down: boolean) => void, mute: () => void}} actions
 *   talking says whether the intercom is on (Space then talks).
 */
export function createKeys(actions) {
  const dialog = document.getElementById("keys-dialog");
  const list = document.getElementById("keys-list");
  let spaceHeld = false;

  function renderHelp() {
    const rows = SHORTCUTS.flatMap(([key, what]) => {
      const dt = document.createElement("dt");
      const kbd = document.createElement("kbd");
      kbd.textContent = key === "Space" ? t("keys.space") : key;
      dt.append(kbd);
      const dd = document.createElement("dd");
      dd.textContent = t(what);
      return [dt, dd];
    });
    list.replaceChildren(...rows);
  }

  function toggleHelp() {
    if (dialog.open) {
      dialog.close();
    } else {
      renderHelp();
      dialog.showModal();
    }
  }

  function onKeyDown(event) {
    if (event.ctrlKey || event.altKey || event.metaKey || event.isComposing) return;
    if (event.key === "?" && !typing(event.target) && (!dialogOpen() || dialog.open)) {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (typing(event.target) || dialogOpen()) return;
    if (event.code === "Space") {
      if (!actions.talking()) return;
      event.preventDefault(); // no page scroll, no click on a focused button
      if (!event.repeat && !spaceHeld) {
        spaceHeld = true;
        actions.hold(true);
      }
      return;
    }
    if (event.repeat) return;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    const ringing = actions.ringing();
    let handled = true;
    if ((key === "Enter" && ringing && !activates(event.target)) || (key === "a" && ringing)) {
      actions.answer();
    } else if (key === "d" && ringing) {
      actions.decline();
    } else if (key === "n") {
      actions.next();
    } else if (key === "h") {
      actions.hotline();
    } else if (key === "o") {
      actions.open();
    } else if (key === "e") {
      actions.end();
    } else if (key === "m") {
      actions.mute();
    } else {
      handled = false;
    }
    if (handled) event.preventDefault();
  }

  function onKeyUp(event) {
    if (event.code !== "Space" || !spaceHeld) return;
    spaceHeld = false;
    event.preventDefault();
    actions.hold(false);
  }

  function release() {
    if (!spaceHeld) return;
    spaceHeld = false;
    actions.hold(false);
  }

  document.addEventListener("keydown", onKeyDown);
  document.addEventListener("keyup", onKeyUp);
  // A key released in another window never comes back here.
  window.addEventListener("blur", release);
  document.getElementById("keys-close").addEventListener("click", () => dialog.close());
  document.getElementById("keys-help-open").addEventListener("click", toggleHelp);

  return {
    relabel() {
      if (dialog.open) renderHelp();
    },
  };
}
