// Words with Latin letters on the page that `allowed` (a regex source) does not allow: visible text
// nodes (SVG text too), the attributes a person reads, options and the title.
(allowed) => {
  const ok = new RegExp(allowed);
  const found = [];
  const check = (text, where) => {
    for (const word of text.split(/[\s·,，、:：()（）\/→×+−%]+/)) {
      if (/[A-Za-z]/.test(word) && !ok.test(word)) found.push(`${word} ← ${where}: ${text.trim().slice(0, 80)}`);
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
