"""`python -m keras_rnn.app`: a page in the browser over the exported SavedModels (docs/app.md).

`models` finds and reloads the newest version of each task's export, `panels` says what each
panel asks its model, `server` is the web app, `static/` the page (no CDN: it works offline).
"""
