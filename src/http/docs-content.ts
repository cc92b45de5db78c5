// The words and look of /docs and /openapi.json: the introduction (keys, scopes, errors, limits), the tags'
// descriptions, callgate's logo and a stylesheet over Swagger UI's, so the page reads as callgate's own.

export const DOCS_INTRO = `A self-hosted WhatsApp calling gateway. Your numbers receive calls, your software answers, rejects and hangs
them up, and signed webhooks tell it what happened to every call. The REST API is wire-compatible with the Pilot
Status Calls API; numbers run on the Meta Cloud API (\`META\`) or on an Evolution Go server (\`EVO_GO\`), and
\`SANDBOX\` numbers have their WhatsApp users simulated by callgate, to try every call flow on one machine.

## Authentication
Send your key in the \`x-api-key\` header (\`ps_...\`), or its id in \`x-api-key-id\` (\`key_...\`). There are two
kinds of key:

- a **tenant key** (from \`callgate tenants create\`) manages numbers, keys and webhooks;
- a **number key** (shown once by \`POST /v1/numbers\` or a key regeneration) acts on that number's calls.

A missing or unknown key is \`401 UNAUTHORIZED\`; a key of the wrong kind is \`403\`
(\`TENANT_SCOPE_NOT_ALLOWED\` or \`NUMBER_SCOPE_NOT_ALLOWED\`); another number's call, number or webhook is \`404\`.
Health checks and provider webhooks take no key (their operations say \`security: []\`).

## Errors
Every error has one shape: \`{"error": "<text>", "code": "<CODE>", "details": {...}?, "requestId": "req_..."}\`.
\`code\` is stable (the list below each operation's responses); \`requestId\` is also the \`x-request-id\`
response header — quote it when asking for help. A request that breaks the schema is \`400 VALIDATION_ERROR\`
with **every** problem listed in \`details.issues\`: \`[{"in": "body"|"querystring"|"params"|"headers",
"path": "/events/0", "message": "..."}]\` (the first 20, with \`details.truncated: true\` when there were more;
a value that fits none of the shapes an operation takes is told about the shape it came closest to). Other 400s carry \`details.reason\` or \`details.field\`.
Request bodies are JSON (\`Content-Type: application/json\`), read as UTF-8 unless the header names another charset
(\`charset=utf-16\`, \`iso-8859-1\`, …); another type, or a charset callgate cannot read, is \`415 UNSUPPORTED_MEDIA_TYPE\`.

## Limits and retries
Each key has a token bucket (terminate has its own, larger one). Over it: \`429 RATE_LIMITED\` with
\`Retry-After\`; every authenticated response carries \`RateLimit-Policy\` and \`RateLimit\`. Every POST accepts an
\`Idempotency-Key\` header (kept 24 h, per key): a replay gets the stored response; a \`502 PROVIDER_UNAVAILABLE\`
is safe to retry.`;

export const TAGS = [
  { name: 'Calls', description: 'Calls of one number (number key): list, inspect, answer, reject, hang up, media.' },
  { name: 'Numbers', description: 'WhatsApp numbers of the tenant (tenant key); creating one issues its number key.' },
  { name: 'API keys', description: "The tenant's keys, masked; a number's key can be regenerated (tenant key)." },
  {
    name: 'Webhooks',
    description:
      'Signed (Standard Webhooks) deliveries of call events to your URL, with retries, a delivery log and replay.',
  },
  { name: 'Events', description: 'The live event stream (Server-Sent Events), resumable with Last-Event-ID.' },
  {
    name: 'Sandbox',
    description:
      'Simulated WhatsApp users for SANDBOX numbers (number key): ring your number, see what the user hears.',
  },
  { name: 'Operations', description: 'Liveness and readiness for load balancers and orchestrators; no key.' },
  {
    name: 'Provider webhooks',
    description: 'Where Meta and Evolution Go deliver call events; authenticated by their own signatures, no key.',
  },
];

export const DOCS_LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="180" height="40" viewBox="0 0 180 40">
<rect x="2" y="4" width="32" height="32" rx="9" fill="#0f766e"/>
<path d="M12.5 11.5c1-1 2.6-.9 3.4.2l2 2.7c.7.9.6 2.2-.2 3l-1.4 1.3a12 12 0 0 0 5 5l1.3-1.4c.8-.8 2.1-.9 3-.2l2.7 2c1.1.8 1.2 2.4.2 3.4l-1.6 1.6c-1.5 1.5-3.9 1.8-5.8.7a26 26 0 0 1-9.6-9.6c-1.1-1.9-.8-4.3.7-5.8z" fill="#fff"/>
<text x="44" y="27" font-family="system-ui,-apple-system,Segoe UI,sans-serif" font-size="20" font-weight="600" fill="#f8fafc">callgate</text>
</svg>`;

export const DOCS_THEME_CSS = `
.swagger-ui .topbar { background: #0b1220; border-bottom: 3px solid #0f766e; }
.swagger-ui .topbar .download-url-wrapper { display: none; }
.swagger-ui .info .title { color: #0f766e; }
.swagger-ui .info .title small.version-stamp { background: #0f766e; }
.swagger-ui .opblock-tag { border-bottom-color: #cbd5e1; }
.swagger-ui .btn.authorize { color: #0f766e; border-color: #0f766e; }
.swagger-ui .btn.authorize svg { fill: #0f766e; }
`;
