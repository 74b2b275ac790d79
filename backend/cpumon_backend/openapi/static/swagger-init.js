// Starts Swagger UI on the docs page. A file, not an inline script, so the page's CSP can forbid inline code.
"use strict";

window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    // Never send the document to the public validator service: the page stays same-origin.
    validatorUrl: null,
    // Requests from "Try it out" are same-origin, so the session cookie set by login goes along.
    persistAuthorization: false,
    displayRequestDuration: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
