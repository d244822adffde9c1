// Where a call comes from, shown the same way on the ringing card, the call card and
// the queue: an icon and a word (车道 / 手机 / 热线), never the icon alone.

import { el } from "./dom.js";
import { t } from "./i18n.js";
import { SOURCES } from "./calls.js";

const SVG = "http://www.w3.org/2000/svg";
// 24x24 outline drawings: a barrier arm on its post, a mobile phone, a handset.
const PATHS = {
  lane: "M4 21V9h4v12M8 12h13v3H8M2 21h8",
  phone: "M7 2h10a1 1 0 0 1 1 1v18a1 1 0 0 1-1 1H7a1 1 0 0 1-1-1V3a1 1 0 0 1 1-1zM10 19h4",
  hotline:
    "M5 4h4l2 5-2.5 1.5a11 11 0 0 0 5 5L15 13l5 2v4a2 2 0 0 1-2 2A16 16 0 0 1 3 6a2 2 0 0 1 2-2z",
};

function icon(source) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "src__icon");
  const path = document.createElementNS(SVG, "path");
  path.setAttribute("d", PATHS[source]);
  svg.append(path);
  return svg;
}

/** Fill `node` (class "src") with the icon and word of `source`. */
export function showSource(node, source) {
  const known = SOURCES.includes(source) ? source : "lane";
  node.className = `src src--${known}`;
  node.dataset.source = String(source);
  node.replaceChildren(icon(known), el("span", "", t(`source.${known}`)));
}
