// A refused form's note names each field it refuses by its label ("Price: …", "Daily limit ($): …",
// the unit in brackets sometimes left out): those fields are marked beside the note, and the first
// is focused, so that what to fix is typed where it is shown. Each marked field is described by the
// note, so that a screen reader, landing on it, says what is wrong with it.
(function () {
  let n = 0;
  for (const note of document.querySelectorAll('form .error[role=alert]')) {
    const text = note.textContent.trim();
    note.id ||= `refusal-${++n}`;
    let first;
    for (const field of note.closest('form').querySelectorAll('label.field')) {
      const label = field.querySelector(':scope > span')?.textContent.trim();
      const input = field.querySelector('input:not([type=hidden]), select, textarea');
      if (!label || !input) continue;
      const named = [label, label.replace(/\s*\([^)]*\)$/, '')].some((l) => text.startsWith(`${l}:`) || text.includes(`. ${l}:`));
      if (!named) continue;
      field.classList.add('invalid');
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
      first ??= input;
    }
    first?.focus();
  }
})();
