/**
 * The app kit driven over HTTP as a browser would, without one: forms posted from the app's own
 * origin, cookies kept, redirects not followed (the test reads where they go).
 */
export class AppClient {
  constructor(
    readonly base: string,
    private readonly cookies = new Map<string, string>(),
  ) {}

  /** The same browser, its cookies shared, at another process of the app. */
  at(base: string): AppClient {
    return new AppClient(base, this.cookies);
  }

  /** `origin`: the site the request says it comes from (the app's own by default). */
  async request(path: string, init: { method?: string; form?: Record<string, string>; json?: unknown; origin?: string } = {}): Promise<Response> {
    const headers: Record<string, string> = { origin: init.origin ?? this.base };
    if (this.cookies.size > 0) headers.cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    } else if (init.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.json);
    }
    const response = await fetch(new URL(path, this.base), { method: init.method ?? (body === undefined ? 'GET' : 'POST'), headers, body, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair!.indexOf('=');
      this.cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    return response;
  }

  /** A form posted; the page it redirects to (or its own status when it does not). */
  async post(path: string, form: Record<string, string>): Promise<{ status: number; location: string | null; text: string }> {
    const response = await this.request(path, { form });
    return { status: response.status, location: response.headers.get('location'), text: await response.text() };
  }

  async page(path: string): Promise<string> {
    const response = await this.request(path);
    if (response.status !== 200) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
    return response.text();
  }
}
