// A new plan's or pack's slug follows its name ("Pro Annual" → "pro-annual") until the admin types
// one of their own; a slug that is already set (an edit form's, a form drawn again) is left alone.
(function () {
  const slugOf = (name) =>
    name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  for (const form of document.querySelectorAll('form')) {
    const name = form.querySelector('input[name=name]');
    const slug = form.querySelector('input[name=slug]:not([readonly])');
    if (!name || !slug) continue;
    let typed = slug.value !== '';
    slug.addEventListener('input', () => (typed = slug.value !== ''));
    name.addEventListener('input', () => {
      if (!typed) slug.value = slugOf(name.value);
    });
  }
})();
