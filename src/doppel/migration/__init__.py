"""From the static set-up (Prism containers behind nginx) to dynamic sandboxes: reading it
(`static_setup`, pure), planning and applying the move through the public API (`migrate`)."""
