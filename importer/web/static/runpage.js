// The page of one run (linked from the start page): its progress, results and undo.
import { $ } from "./lib.js";
import { mountRun } from "./run.js";

const view = mountRun($("#progress"), $("#results"));
view.follow($("#app").dataset.run);
