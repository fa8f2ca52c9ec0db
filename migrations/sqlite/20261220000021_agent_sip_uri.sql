-- Where an agent takes calls Ringback connects (progressive and preview calls on sip trunks):
-- a sip: or sips: URI; null: none set.
ALTER TABLE agents ADD COLUMN sip_uri TEXT;
