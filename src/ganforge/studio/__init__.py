"""ganforge studio: a local web app over a runs folder (``ganforge studio``; docs/studio.md).

``runs`` reads run folders (listing, state, curves, config diff, models), ``explore`` computes images from
exported models, ``pages`` and ``static/`` are the front end, ``app`` the Starlette routes over them."""
