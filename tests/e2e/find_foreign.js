// Words in the other language's script (`foreign`, a regex source) on the page that `allowed` (a regex
// source) does not allow: visible text nodes (SVG text too), the attributes a person reads, options and
// the title. Latin on a zh-CN page, Chinese characters on an English one.
({ allowed, foreign }) => {
  const ok = new RegExp(allowed);
  const alien = new RegExp(foreign);
  const found = [];
  const check = (text, where) => {
    for (const word of text.split(/[\s·,，、:：()（）\/→×+−%]+/)) {
      if (alien.test(word) && !ok.test(word)) found.push(`${word} ← ${where}: ${text.trim().slice(0, 80)}`);
    }
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (!parent || parent.closest("script, style, [hidden]") || !parent.checkVisibility()) continue;
    check(walker.currentNode.textContent, parent.tagName.toLowerCase() + (parent.id ? "#" + parent.id : ""));
  }
  for (const el of document.querySelectorAll("[placeholder], [title], [aria-label], option")) {
    for (const name of ["placeholder", "title", "aria-label"]) if (el.getAttribute(name)) check(el.getAttribute(name), name);
    if (el.tagName === "OPTION") check(el.textContent, "option");
  }
  check(document.title, "title");
  return found;
}
