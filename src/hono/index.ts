/**
 * `tollgate/hono`: Tollgate for Hono apps, over the library's facade. A route guard that
 * refuses AI work before it starts, the API's error shape, and the `/v1` API itself as an app
 * to mount in a host app (`app.route('/billing/v1', createApi(billing, credentials))`).
 */
export { guard, type GuardOptions } from './guard.ts';
export { answerError, HttpError, refusalBody, type ErrorBody } from './errors.ts';
export { createApi, type Api } from './api.ts';
export { createWebhooks } from './webhooks.ts';
export { loadCredentials, type ChosenCredentials, type Credentials } from './credentials.ts';
