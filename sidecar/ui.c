/* ui: serves the dashboard page (see ui.h). */
#include "sidecar/ui.h"

#include <stddef.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "core/httpd.h"

/* sidecar/ui.html, made a byte array at build time (ui_html.c). */
extern const unsigned char berth_ui_html[];
extern const size_t berth_ui_html_len;

void
ui_page(struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	if (b == NULL) {
		httpd_error(req, 500, "internal", "out of memory", NULL);
		return;
	}
	evbuffer_add_reference(b, berth_ui_html, berth_ui_html_len, NULL, NULL);
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	/* The page loads nothing from elsewhere and runs only its own script. */
	evhttp_add_header(h, "Content-Security-Policy",
	                  "default-src 'none'; script-src 'unsafe-inline'; style-src "
	                  "'unsafe-inline'; connect-src 'self'; img-src 'self'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Cache-Control", "no-store");
	httpd_send(req, 200, b);
	evbuffer_free(b);
}
