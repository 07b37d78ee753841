// @ts-check
/** The agentsessions Node client: the client in client.js, errors in status.js, types in index.d.ts. */
"use strict";

module.exports = require("./client");
