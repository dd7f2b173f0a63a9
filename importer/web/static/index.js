// The start page: upload a file (drop it or choose it), clean up earlier uploads.
import { $, $$, api, show } from "./lib.js";

const drop = $("#drop");
const input = $("#file");
const status = $("#upload-status");

async function send(file) {
  status.className = "status";
  status.textContent = `uploading ${file.name} …`;
  try {
    const data = await api("PUT", `/api/uploads?name=${encodeURIComponent(file.name)}`, undefined, file);
    location.href = data.url;
  } catch (e) {
    status.textContent = e.message;
    status.className = "status error";
  }
}

input.addEventListener("change", () => input.files.length && send(input.files[0]));
for (const ev of ["dragenter", "dragover"]) {
  drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.add("over"); });
}
for (const ev of ["dragleave", "drop"]) {
  drop.addEventListener(ev, (e) => { e.preventDefault(); drop.classList.remove("over"); });
}
drop.addEventListener("drop", (e) => e.dataTransfer.files.length && send(e.dataTransfer.files[0]));
$$("[data-delete]").forEach((b) => b.addEventListener("click", async () => {
  try {
    await api("DELETE", `/api/uploads/${b.dataset.delete}`);
    b.closest("tr").remove();
  } catch (e) {
    show($("#list-status"), e.message);
  }
}));
