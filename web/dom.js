// The only way the console puts text on screen is textContent: plates, notes, names
// and details come from lanes and people and are never parsed as HTML.

/** Create an element with classes and optional text. */
export function el(tag, className = "", text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

/** A text written again unchanged still makes the browser lay the row's table out again
 * (an unchanged attribute or class does not), so texts are compared first. */
export function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

/** Show or hide with the `hidden` attribute (style.css makes it win over display rules). */
export function show(node, visible) {
  node.hidden = !visible;
}
