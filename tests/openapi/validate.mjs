// Checks docs/openapi.yaml:
//   1. it is a valid OpenAPI 3.1 document (@apidevtools/swagger-parser);
//   2. every route registered in src/api/api.c, v1.c, v2.c and cabinet.c is documented with
//      the same method and path template, and the document lists no route the
//      code does not have (so the reference cannot drift silently);
//   3. every example of a request or response body validates against its schema.
// Prints "openapi: 1 passed, 0 failed" or "openapi: 0 passed, 1 failed"; the
// exit code follows.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import SwaggerParser from '@apidevtools/swagger-parser';
import Ajv2020 from 'ajv/dist/2020.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const specPath = resolve(root, 'docs/openapi.yaml');
const sources = ['src/api/api.c', 'src/api/v1.c', 'src/api/v2.c', 'src/api/cabinet.c'];
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

const problems = [];
const fail = (msg) => problems.push(msg);

// ---- 1. validity -----------------------------------------------------------------
let api = null;
try {
	api = await SwaggerParser.validate(specPath);
} catch (e) {
	fail(`not a valid OpenAPI document: ${e.message}`);
}

// ---- 2. routes in the code vs. paths in the document --------------------------------
// router_add(a->router, "GET", "/healthz", …) in api.c and v1.c;
// {"PUT", "/api/v2/users/{user}", r_user_put}, in the routes[] table of v2.c.
const codeRoutes = new Set();
const callRe = /router_add\(\s*a->router\s*,\s*"([A-Z]+)"\s*,\s*"([^"]+)"/g;
const tableRe = /\{\s*"(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS)"\s*,\s*"(\/[^"]*)"\s*,\s*\w+\s*\}/g;
for (const file of sources) {
	let text;
	try {
		text = readFileSync(resolve(root, file), 'utf8');
	} catch (e) {
		fail(`cannot read ${file}: ${e.message}`);
		continue;
	}
	let n = 0;
	for (const re of [callRe, tableRe]) {
		re.lastIndex = 0;
		for (const m of text.matchAll(re)) {
			codeRoutes.add(`${m[1]} ${m[2]}`);
			n++;
		}
	}
	if (n === 0)
		fail(`${file}: no routes found (has the registration changed shape? update tests/openapi/validate.mjs)`);
}

if (api) {
	const docRoutes = new Set();
	for (const [path, item] of Object.entries(api.paths ?? {}))
		for (const method of METHODS)
			if (item[method])
				docRoutes.add(`${method.toUpperCase()} ${path}`);
	for (const r of [...codeRoutes].sort())
		if (!docRoutes.has(r))
			fail(`route registered in the code but missing from docs/openapi.yaml: ${r}`);
	for (const r of [...docRoutes].sort())
		if (!codeRoutes.has(r))
			fail(`route documented in docs/openapi.yaml but not registered in ${sources.join(', ')}: ${r}`);
}

// ---- 3. examples against their schemas ----------------------------------------------
if (api) {
	const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
	const check = (where, schema, value) => {
		let validate;
		try {
			validate = ajv.compile(schema);
		} catch (e) {
			fail(`${where}: the schema does not compile: ${e.message}`);
			return;
		}
		if (!validate(value))
			fail(`${where}: example does not match its schema: ${ajv.errorsText(validate.errors)}`);
	};
	const checkMedia = (where, content) => {
		for (const [type, media] of Object.entries(content ?? {})) {
			if (!media.schema || !type.includes('json'))
				continue;
			if (media.example !== undefined)
				check(`${where} ${type} example`, media.schema, media.example);
			for (const [name, ex] of Object.entries(media.examples ?? {}))
				if (ex && ex.value !== undefined)
					check(`${where} ${type} examples.${name}`, media.schema, ex.value);
		}
	};
	for (const [path, item] of Object.entries(api.paths ?? {})) {
		for (const method of METHODS) {
			const op = item[method];
			if (!op)
				continue;
			const where = `${method.toUpperCase()} ${path}`;
			checkMedia(`${where} request`, op.requestBody?.content);
			for (const [status, resp] of Object.entries(op.responses ?? {}))
				checkMedia(`${where} ${status}`, resp.content);
			for (const p of [...(item.parameters ?? []), ...(op.parameters ?? [])])
				if (p.example !== undefined && p.schema)
					check(`${where} parameter ${p.name}`, p.schema, p.example);
		}
	}
}

for (const p of problems)
	console.error(`openapi: ${p}`);
if (problems.length) {
	console.log('openapi: 0 passed, 1 failed');
	process.exit(1);
}
console.log(`openapi: docs/openapi.yaml is valid OpenAPI ${api.openapi}; ${codeRoutes.size} routes documented`);
console.log('openapi: 1 passed, 0 failed');
