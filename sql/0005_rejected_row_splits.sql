-- The split of the import that set a row aside, NULL when one import loaded both splits, so
-- that importing a split again replaces that split's rejected rows whatever the file's name.

ALTER TABLE adpilot.rejected_rows ADD COLUMN split text;
