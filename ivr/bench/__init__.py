"""`ivr bench`: the same call flow run by the app, by pure dialplan and by an AGI process per
call, on the same bundled Asterisk, under rising load; measured and reported side by side."""
