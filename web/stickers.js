// A lane's help sticker, downloaded by a supervisor to print: the file `seat lanes
// sticker` writes, fetched from the centre (which puts the download in the ledger) and
// handed to the browser as a download. Fetched rather than linked, so a refusal (no
// public address set at the centre) is shown as a message, not saved as a file.

import { api } from "./api.js";

// Long enough for any browser to have taken the file; the URL only holds memory.
const KEEP_URL_MS = 60_000;

/** Download lane `laneId`'s sticker as `format` ("png" or "pdf"); rejects with an ApiError. */
export async function downloadSticker(laneId, format = "png") {
  const file = await api.sticker(laneId, format);
  const url = URL.createObjectURL(file);
  const link = document.createElement("a");
  link.href = url;
  link.download = `sticker-${laneId}.${format}`;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), KEEP_URL_MS);
}
